"""What a running process needs from its host: clock, credentials, logging, metrics and
systemd notifications."""
