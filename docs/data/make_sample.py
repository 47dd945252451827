"""Write the tutorial's small, hand-made sample corpus (fake users, invented posts).

    python docs/data/make_sample.py      # rewrites posts.csv, users.csv and reddit_sample.zst here

34 fake users in four occupations post three short English messages a month from January
to April 2024 (so that every group has the same users in every month).
Word choice leans on age (school words for the young, family and work words for the older)
and occupation, so a differential language analysis and a group study have something to find.
The Reddit file holds the same kind of posts as Pushshift-style comments, zstd-compressed.
Deterministic: the same files every run.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
# engineer + artist (suppressed below 10 users) hold 10 users together, so the two big groups
# need not be withheld to stop "total minus the rest" from describing a small group.
OCCUPATIONS = {"student": 12, "teacher": 12, "engineer": 6, "artist": 4}
SUBREDDITS = {"student": "college", "teacher": "Teachers", "engineer": "engineering",
              "artist": "Art"}
OPENERS = ["today I", "this morning I", "tonight I", "yesterday I", "this week I", "again I"]
FEELINGS = ["feel happy and grateful", "feel tired but hopeful", "am so angry and annoyed",
            "feel calm and relaxed", "am a bit sad and lonely", "feel excited and proud",
            "am worried and nervous", "feel great, really good", "am bored", "feel loved"]
YOUNG = ["homework", "exams", "class", "dorm", "party", "roommate", "lol", "campus", "gaming"]
OLDER = ["kids", "mortgage", "garden", "meeting", "family", "dinner", "husband", "wife", "budget"]
JOB = {"student": ["lecture", "essay", "library"], "teacher": ["pupils", "grading", "lesson"],
       "engineer": ["code", "deadline", "server"], "artist": ["painting", "canvas", "gallery"]}
FUTURE = ["tomorrow I will", "next week we will", "soon I am going to", "I hope to"]
PLANS = ["rest", "see friends", "finish it", "call my mom", "go running", "read a book"]


def _users(rng: random.Random) -> list[dict]:
    users, n = [], 0
    for occu, k in OCCUPATIONS.items():
        for _ in range(k):
            n += 1
            young = occu == "student" or rng.random() < 0.2
            users.append({"user_id": f"user{n:02d}", "occu": occu,
                          "age": rng.randint(16, 24) if young else rng.randint(27, 62),
                          "gender": rng.choice(["female", "male"])})
    return users


def _post(rng: random.Random, user: dict) -> str:
    topical = YOUNG if user["age"] < 26 else OLDER
    words = rng.sample(topical, 2) + rng.sample(JOB[user["occu"]], 1)
    return (f"{rng.choice(OPENERS)} {rng.choice(FEELINGS)} about {words[0]} and {words[1]}. "
            f"The {words[2]} was long, {rng.choice(FUTURE)} {rng.choice(PLANS)}.")


def _time(rng: random.Random, month: int) -> dt.datetime:
    """A random minute of ``month`` (1..4) of 2024, UTC."""
    start = dt.datetime(2024, month, 1, tzinfo=dt.UTC)
    return start + dt.timedelta(minutes=rng.randrange(0, 28 * 24 * 60))


def main() -> None:
    """Write the three sample files next to this script."""
    rng = random.Random(7)
    users = _users(rng)
    with open(HERE / "users.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["user_id", "occu", "age", "gender"])
        w.writeheader()
        w.writerows(users)
    rows = []
    for u in users:
        for month in range(1, 5):
            rows += [(_time(rng, month), u["user_id"], _post(rng, u)) for _ in range(3)]
    rows.sort()
    with open(HERE / "posts.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["post_id", "user_id", "created_at", "text"])
        for i, (t, user, text) in enumerate(rows, start=1):
            w.writerow([f"p{i:04d}", user, t.strftime("%Y-%m-%d %H:%M:%S"), text])

    import zstandard

    buf = io.StringIO()
    for i, u in enumerate(users * 7):
        t = _time(rng, 1 + i % 4)
        buf.write(json.dumps({"id": f"c{i:05x}", "author": u["user_id"],
                              "subreddit": SUBREDDITS[u["occu"]], "body": _post(rng, u),
                              "created_utc": int(t.timestamp())}) + "\n")
    buf.write(json.dumps({"id": "cdead", "author": "[deleted]", "subreddit": "college",
                          "body": "[deleted]", "created_utc": 1706000000}) + "\n")
    (HERE / "reddit_sample.zst").write_bytes(zstandard.ZstdCompressor(level=19).compress(
        buf.getvalue().encode()))


if __name__ == "__main__":
    main()
