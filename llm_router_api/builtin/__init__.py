"""llm-router's built-in task routes: prompts from the library around the caller's texts, sent to a
model along the same path as any chat (keys, masking, guardrails, balancing, failover)."""
