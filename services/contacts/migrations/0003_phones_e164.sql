-- Phones in one form, E.164 (+8613800138000), as contacts stores them from now on. Before, a
-- number was kept as typed less spaces, dashes and brackets, so 13800138000 and +86 138 0013 8000
-- were two numbers. This rewrites the common mainland-China mobile forms: 11 digits from 13 to 19,
-- alone or after 86 or 0086. Other numbers are left as they were (their region is unknown here).
UPDATE customers
SET phone = '+86' || right(phone, 11)
WHERE phone ~ '^(86|0086)?1[3-9][0-9]{9}$';
