"""Social-media tokenizer, normalisation and language identification."""
