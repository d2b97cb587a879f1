"""Face recognition evaluation protocols: pair verification and closed-set identification."""
