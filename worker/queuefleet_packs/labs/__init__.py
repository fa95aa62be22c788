"""Lab provisioning pack (queue `labs.provisioning.v1`): lock, blueprint, provision, validate,
human review, finalize, with cancellation that releases what was taken."""
