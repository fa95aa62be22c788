"""queuefleet worker runtime: runs the workflows and activities registered for one task queue."""
