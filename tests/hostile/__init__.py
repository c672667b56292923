"""Hostile-input suite (issue 7): fuzzing the API, the case model and the mappings, and hostile
department answers driven end to end through the running hub."""
