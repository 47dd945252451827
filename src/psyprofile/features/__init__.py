"""Feature extraction: ngrams, lexica, topics, embeddings, style (one long table shape)."""
