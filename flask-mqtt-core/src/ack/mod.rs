//! Acknowledging QoS 1/2 messages after their handlers (issue 15): the policy a handler
//! chooses, and the slots a client owes (`watermark`).

pub(crate) mod watermark;
