"""The outbound pipeline: every message a company sends passes the same rules, audit and
measurement: consent, quiet hours, caps, budgets, templates, channel choice, delivery."""
