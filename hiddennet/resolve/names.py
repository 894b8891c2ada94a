"""Forenames as the model compares them: lower case, a known short form replaced by its full name.

A small table of common English short forms (the generator's forenames and their usual nicknames);
a force's own list can replace it. Both the record and the candidate are standardised the same way,
so `Jim` and `James` agree exactly while `Jim` and `Jake` do not. A name that is a full name in its own
right (Ali, Gemma) is never a short form here: mapping it would merge two different names.
"""

from __future__ import annotations

NICKNAMES = {
    "alfie": "alfred", "bella": "isabella", "ben": "benjamin", "charlie": "charles",
    "chris": "christopher", "dan": "daniel", "danny": "daniel", "dave": "david", "ed": "edward", "ellie": "eleanor",
    "harry": "henry", "izzy": "isabella", "jack": "john", "jake": "jacob", "jim": "james",
    "jimmy": "james", "jon": "jonathan", "kate": "katherine", "katie": "katherine", "liz": "elizabeth",
    "lizzie": "elizabeth", "maddie": "madison", "matt": "matthew", "meg": "megan", "mike": "michael", "mo": "mohammed",
    "mohammad": "mohammed", "muhammad": "mohammed", "nick": "nicholas", "olly": "oliver", "ollie": "oliver",
    "rob": "robert", "sam": "samuel", "soph": "sophie", "tom": "thomas", "tommy": "thomas", "will": "william",
    "zac": "zachary", "georgie": "george", "lew": "lewis", "liv": "olivia", "livvy": "olivia", "noa": "noah",
    "con": "connor", "dani": "daniella", "becky": "rebecca", "steve": "stephen", "joe": "joseph", "josh": "joshua",
}


def standard_forename(value: object) -> str | None:
    """`value` lower-cased and trimmed, a nickname replaced by its full name; None when empty."""
    if not isinstance(value, str):
        return None
    name = value.strip().lower()
    return NICKNAMES.get(name, name) or None
