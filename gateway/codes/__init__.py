"""Code formats (community pass, later the EU DCC), the COSE pipeline they share, trust lists."""
