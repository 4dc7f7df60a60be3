"""The end of the data flow: one HTML report, and the audit trail (provenance and manifest)
that lets a reviewer check every published number against the inputs that made it."""
