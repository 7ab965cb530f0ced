"""The one small library kehu's services share: contracts and plumbing, no business rules."""
