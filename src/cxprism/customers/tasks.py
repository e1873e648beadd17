"""Event consumers and job handlers of the customers domain.

None yet: identify, merge and erasure run inside the request's transaction. Other domains
consume ``customer.merged`` (move their history to the winner) and ``customer.erased``
(drop their copies) in their own tasks modules.
"""
