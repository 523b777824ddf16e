"""Scheduled feed pulls: the per-dealer job graph, schedules, circuit breakers (pure), their
Postgres store, the `od scheduler` loop and the `jobs` worker kind that runs the jobs."""
