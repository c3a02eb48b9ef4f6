"""Answers that flow through: big base64 strings spooled off the heap, under one byte budget.

An image answer is megabytes of base64 inside a small JSON document. Holding it as one string
(then a decoded copy, then a rendered copy) made memory per request grow with image size. This
package lets the upstream client read such a document as it arrives, keeping the small JSON
around the images in memory and each big string in an anonymous temporary file (a `Spool`); the
service then decodes a spool into the store, or copies it to the client, a chunk at a time.
`ByteBudget` caps what one process holds in spools at once. Imports nothing of the hub but
`errors`, so every layer may use it.
"""

from imagehub.payloads.budget import ANSWERS, AnswerBudgetFull, ByteBudget
from imagehub.payloads.spool import Spool, materialize, spool_text

__all__ = ["ANSWERS", "AnswerBudgetFull", "ByteBudget", "Spool", "materialize", "spool_text"]
