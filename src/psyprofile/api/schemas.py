"""Request and response bodies of the REST service (pydantic models -> the OpenAPI schema).

Every rule the server enforces on a body is part of the schema, so clients see it in
``/openapi.json`` and a request that breaks it is answered 422 before any work is done. A
person's posts come either as ``texts`` (strings) or as ``posts`` (``{text, timestamp}``
objects), exactly one of the two (JSON Schema ``oneOf``): a time belongs to its text, so
there is no "same length" rule that a schema could not state. The byte limit on whole
bodies is enforced earlier, while the body streams in (see :mod:`psyprofile.api.limits`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

MAX_TEXTS = 10_000          # texts in one profile request or per user of a job
MAX_TEXT_CHARS = 50_000     # characters per text (a long blog post; tweets are 280)
MAX_JOB_USERS = 10_000      # users in one JSON job
MAX_ID_CHARS = 256

Text = Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)]
UserId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _no_default(schema: dict[str, Any]) -> None:
    # An absent field is not a null one: the schema must not advertise null as its value.
    schema.pop("default", None)


class Post(_Strict):
    """One post and when it was posted."""

    text: Text
    timestamp: dt.datetime = Field(description="When the text was posted (ISO 8601); used by "
                                               "the temporal-orientation scores.")


class _Texts(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "oneOf": [{"required": ["texts"]}, {"required": ["posts"]}]})

    texts: list[Text] = Field(  # type: ignore[assignment] - absent, never null
        None, min_length=1, max_length=MAX_TEXTS, json_schema_extra=_no_default,
        description="The person's posts, one string each (without times). Give `texts` or "
                    "`posts`, not both.")
    posts: list[Post] = Field(  # type: ignore[assignment] - absent, never null
        None, min_length=1, max_length=MAX_TEXTS, json_schema_extra=_no_default,
        description="The person's posts with their times. Give `texts` or `posts`, not both.")

    @model_validator(mode="after")
    def _one_form(self) -> _Texts:
        given = {"texts", "posts"} & self.model_fields_set
        if len(given) != 1:
            raise ValueError("give the posts either as `texts` (strings) or as `posts` "
                             "(objects with text and timestamp), exactly one of the two")
        return self

    def text_list(self) -> list[str]:
        """The texts, in the order given."""
        return list(self.texts) if self.posts is None else [p.text for p in self.posts]

    def timestamp_strings(self) -> list[str] | None:
        """The posts' times as ISO 8601 strings, as :func:`profile_texts` takes them; None
        for ``texts``."""
        return None if self.posts is None else [p.timestamp.isoformat() for p in self.posts]


class ProfileRequest(_Texts):
    """One person's texts."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        **_Texts.model_config["json_schema_extra"],  # type: ignore[dict-item]
        "examples": [
            {"posts": [{"text": "Had a great day at the beach with friends!",
                        "timestamp": "2024-05-01T10:00:00Z"},
                       {"text": "So tired of work lately.", "timestamp": "2024-05-03T22:15:00Z"}]},
            {"texts": ["Had a great day at the beach with friends!"]}]})


class Score(BaseModel):
    """One dimension of a profile with its interval and where it comes from."""

    family: str = Field(description="big5, emotions, sentiment, wellbeing, temporal, age or gender")
    dimension: str
    value: float | None = Field(description="In the dimension's own units; null if not computable.")
    lo: float | None = Field(None, description="Lower end of the 95% interval.")
    hi: float | None = Field(None, description="Upper end of the 95% interval.")
    pct: float | None = Field(None, description="Percentile 0..100 among the reference norms.")
    words: int = Field(description="Words the score rests on.")
    source: str = Field(description="Model or lexicon id.")
    unit: str | None = Field(None, description="The unit of `value`.")
    reference: str | None = Field(None, description="The reference sample `pct` is relative to.")
    coverage: float | None = Field(None, description="Share of the words the source knows.")
    validation: dict[str, Any] | None = Field(
        None, description="How well this source agreed with a criterion where it was validated.")
    evidence: dict[str, Any] | None = Field(
        None, description="What is known about the source's validity (citation, languages, "
                          "convergent evidence).")


class Profile(BaseModel):
    """The profile of one person (see ``psyprofile.profiles.texts.profile_texts``)."""

    words: int
    status: Literal["scored", "insufficient_text", "unsupported_language"] = Field(
        description="`unsupported_language`: most words are in languages the sources were not "
                    "built for, so nothing is scored.")
    languages: str | None = Field(None, description="The texts' languages by share of words.")
    unsupported_sources: list[str] = Field(
        default_factory=list, description="Sources not built for the texts' languages, which "
                                          "so gave no score (the others did).")
    warnings: list[str]
    scores: list[Score]


class JobUser(_Texts):
    id: UserId = Field(description="The user's id; pseudonymised with the study key when "
                                   "the service serves a study.")


class JobRequest(_Strict):
    """A batch of users to profile."""

    users: list[JobUser] = Field(min_length=1, max_length=MAX_JOB_USERS)

    @model_validator(mode="after")
    def _unique_ids(self) -> JobRequest:
        # Positions, not the ids: error messages never echo a user's id.
        first: dict[str, int] = {}
        dupes = [(first[u.id], i) for i, u in enumerate(self.users)
                 if first.setdefault(u.id, i) != i]
        if dupes:
            shown = ", ".join(f"users[{i}] repeats users[{j}]" for j, i in dupes[:5])
            raise ValueError(f"user ids must be unique within a job ({len(dupes):,} repeated: "
                             f"{shown}{' ...' if len(dupes) > 5 else ''})")
        return self


JobState = Literal["queued", "running", "done", "failed"]


class JobStatus(BaseModel):
    id: str
    status: JobState
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    n_users: int
    n_done: int
    progress: float = Field(description="Share of users profiled, 0..1.")
    rejected_rows: dict[str, int] = Field(
        default_factory=dict, description="Rows of an uploaded file that were skipped, by reason.")
    error: str | None = None


class UserResult(BaseModel):
    id: str = Field(description="The user's pseudonym (serving a study) or id as sent.")
    profile: Profile | None
    error: str | None = Field(None, description="Why this user could not be profiled.")


class JobResult(BaseModel):
    id: str
    status: JobState
    n_users: int
    offset: int
    users: list[UserResult]


class ModelInfo(BaseModel):
    name: str
    where: str = Field(description="'study' or 'bundled'")
    outcome: str | None = None
    task: str | None = None
    feature_sets: list[str] = Field(default_factory=list)
    n_users: int | None = None
    r: float | None = None
    auc: float | None = None
    created: str | None = None
    card: dict[str, Any] | None = Field(None, description="The model card (card.json).")
    intact: bool = Field(True, description="Whether the model's files match its integrity "
                                           "record; a model that is not intact is refused "
                                           "when used, and only its name is listed.")
    digest: str | None = Field(None, description="The model's content hash: the same for every "
                                                 "copy, different for any change.")


class ModelList(BaseModel):
    models: list[ModelInfo]


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class ErrorInfo(BaseModel):
    code: str
    message: str
    detail: Any = None


class ErrorBody(BaseModel):
    """The shape of every error response."""

    error: ErrorInfo
