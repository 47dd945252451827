"""The option objects of extract_features and run_study: values compare as given, whatever
sequence type a caller used, and a bare name is one item."""

from __future__ import annotations

import psyprofile as pp


def test_feature_options_normalise_what_callers_pass():
    a = pp.FeatureOptions(ngrams=[1, 2], lexica=["nrc_emot"], chars=[2, 4])
    b = pp.FeatureOptions(ngrams=(1, 2), lexica="nrc_emot", chars=(2, 4))
    assert a == b and hash(a) == hash(b)
    assert pp.FeatureOptions(ngrams=3).ngrams == (3,)
    assert pp.FeatureOptions() == pp.FeatureOptions(level="user", ngrams=(1,))


def test_study_options_normalise_what_callers_pass():
    a = pp.StudyOptions(by="region", scores=["big5"], strata=None)
    assert (a.by, a.scores, a.strata) == (("region",), ("big5",), ())
    assert a == pp.StudyOptions(by=["region"], scores=("big5",))
