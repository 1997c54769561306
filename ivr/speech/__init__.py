"""Speech fallback: intent matching (pure), recognition service, listeners, the speech node."""
