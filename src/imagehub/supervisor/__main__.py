"""`python -m imagehub.supervisor OPTIONS_JSON`: what `imagehub serve --workers N` execs into."""

import sys

from imagehub.supervisor import supervise

supervise(sys.argv[1])
