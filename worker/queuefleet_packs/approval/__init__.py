"""Approval pack (queue `tasks.approval.v1`): a task runs only after a human approves its plan."""
