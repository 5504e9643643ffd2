"""Print the named environment variables as one JSON object (null where unset).

Stands in for an application that reads its configuration from the environment only."""

import json
import os
import sys

print(json.dumps({name: os.environ.get(name) for name in sys.argv[1:]}, ensure_ascii=False))
