"""Amazon Bedrock: Stability AI's image models through InvokeModel, signed with SigV4 by botocore."""
