"""Scheduled jobs of ``shopwise worker``, with database locks and recorded runs."""

from shopwise.jobs._scheduler import Job, JobFn, Scheduler, recent_runs, worker_id

__all__ = ["Job", "JobFn", "Scheduler", "recent_runs", "worker_id"]
