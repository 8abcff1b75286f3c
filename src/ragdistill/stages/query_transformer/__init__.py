"""The query-transformer stage: conversational rewrite, multi-query expansion and HyDE,
distilled from a prompted LLM into a small causal LM or a seq2seq model, and A/B-tested by
what a rewrite is for: retrieval."""
