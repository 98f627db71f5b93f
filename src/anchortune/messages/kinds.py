"""What a JSON value is, in JSON's own words with its article ('a number', 'an object', 'null'): what a message
says it found where something else was expected. Python's type names (int, dict, NoneType) mean nothing to the
author of a file; the catalogue's terms give each phrase in German."""

from __future__ import annotations

import json


def json_kind(value) -> str:
    """'a number', 'a string', 'a list', 'an object', 'null', 'true' or 'false' for `value` as json.loads gives it."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    for types, words in (((int, float), "a number"), (str, "a string"), ((list, tuple), "a list"), (dict, "an object")):
        if isinstance(value, types):
            return words
    return f"a {type(value).__name__}"
