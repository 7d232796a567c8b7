-- Nexmark q3, local item suggestion: auctions of category 10 by sellers in OR, ID or CA.
SELECT p.name, p.city, p.state, a.id
FROM auction a JOIN person p ON a.seller = p.id
WHERE a.category = 10 AND p.state IN ('OR', 'ID', 'CA')
