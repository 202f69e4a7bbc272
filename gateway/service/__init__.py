"""The checkpoint use-cases: scan → verify → decide → record, and what the screens see."""
