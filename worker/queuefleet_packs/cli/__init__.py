"""`queuefleet workflow|load|graph`: drive the packs (and any workflow) from the command line."""
