"""Column names that hold who someone is, which must not become group columns.

Group columns are stored in clear text in ``messages`` and written by ``export posts``, so a
group column holding a user id or handle would undo the pseudonymisation. Ingest refuses a
group column whose name (its last dotted part for nested JSON, compared case-insensitively)
is one of these unless ``--keep-raw-ids`` is given:

* ids: ``id``, ``uuid``, ``guid``, ``id_str`` and anything ending in ``_id``, ``_ids``,
  ``_id_str``, ``_uuid`` (``author_id``, ``in_reply_to_status_id``, ``subreddit_id``);
* people: ``user``, ``author``, ``account``, ``owner``, ``sender``, ``recipient``, ``from``,
  ``to``, ``member``, ``participant``, ``respondent``, ``donor``, alone or followed by
  ``id``/``name``/``handle``/``email`` (``userid``, ``author_name``, ``account_handle``),
  ``author_fullname``, and anything holding ``screen_name``, ``username``, ``user_name``,
  ``handle``, ``email``, ``phone`` or ``acct``;
* replies and mentions: anything starting with ``in_reply_to`` or ``reply_to``, ``mention``,
  ``mentions``, ``user_mentions``, ``parent_author``;
* names: ``name``, ``display_name``, ``full_name``, ``first_name``, ``last_name``;
* addresses that embed a handle: ``url``, ``uri``, ``link``, ``permalink``, ``ip``,
  ``ip_address``, and anything starting with ``profile``.
"""

from __future__ import annotations

import re

_PEOPLE = ("user|users|author|account|owner|sender|recipient|from|to|member|participant|"
           "respondent|donor")
_IDENTITY = re.compile(
    rf"""(?x)
      (?:id|ids|id_str|uuid|guid) | .*_(?:id|ids|id_str|uuid)
    | (?:{_PEOPLE})_?(?:id|ids|name|names|handle|email)?
    | author_fullname | parent_author
    | .*(?:screen_name|username|user_name|handle|email|e_mail|phone|acct).*
    | (?:in_reply_to|reply_to).* | mentions? | user_mentions
    | name | display_name | full_name | first_name | last_name
    | url | uri | link | permalink | ip | ip_address | profile.*
    """
)


def is_identity_field(name: str) -> bool:
    """Whether a column called ``name`` probably holds a person's id, handle or name."""
    return _IDENTITY.fullmatch(name.rsplit(".", 1)[-1].strip().lower()) is not None
