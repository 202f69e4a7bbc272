"""Code formats (community pass, EU DCC, SMART Health Card), what they share, trust lists."""
