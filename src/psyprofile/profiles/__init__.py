"""Psychological profiles of users: Big Five, emotions, sentiment, well-being, temporal
orientation, age and gender, with intervals, percentiles and split-half reliability.

``study.profile_study`` (a study's users), ``texts.profile_texts`` (one person, no study),
``reliability.split_half``; the sources are a ``spec.ProfileSpec``. See ``docs/profiles.md``.
"""
