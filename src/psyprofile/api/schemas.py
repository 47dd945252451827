"""Request and response bodies of the REST service (pydantic models -> the OpenAPI schema).

Limits on texts are part of the schema, so clients see them in ``/openapi.json`` and a
request that breaks them is answered 422 before any work is done. The byte limit on whole
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


class _Texts(_Strict):
    texts: list[Text] = Field(min_length=1, max_length=MAX_TEXTS,
                              description="The person's posts, one string each.")
    timestamps: list[dt.datetime] | None = Field(
        None, description="When each text was posted (ISO 8601), same length as `texts`; "
                          "used by the temporal-orientation scores.")

    @model_validator(mode="after")
    def _same_length(self) -> _Texts:
        if self.timestamps is not None and len(self.timestamps) != len(self.texts):
            raise ValueError(f"timestamps has {len(self.timestamps)} entries but texts has "
                             f"{len(self.texts)}; give one timestamp per text or none")
        return self

    def timestamp_strings(self) -> list[str] | None:
        """Timestamps as ISO 8601 strings, as :func:`profile_texts` takes them."""
        return None if self.timestamps is None else [t.isoformat() for t in self.timestamps]


class ProfileRequest(_Texts):
    """One person's texts."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"texts": ["Had a great day at the beach with friends!", "So tired of work lately."],
         "timestamps": ["2024-05-01T10:00:00Z", "2024-05-03T22:15:00Z"]}]})


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
    validation: dict[str, Any] | None = Field(
        None, description="How well this source agreed with a criterion where it was validated.")


class Profile(BaseModel):
    """The profile of one person (see ``psyprofile.profiles.texts.profile_texts``)."""

    words: int
    status: Literal["scored", "insufficient_text"]
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
        seen: set[str] = set()
        dupes = sorted({u.id for u in self.users if u.id in seen or seen.add(u.id)})
        if dupes:
            raise ValueError(f"user ids must be unique within a job; repeated: "
                             f"{', '.join(dupes[:5])}{' ...' if len(dupes) > 5 else ''}")
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
