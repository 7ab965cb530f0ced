-- The catalogue (docs/architecture.md §14.1).

-- name: upsert_product
-- Creates or replaces the product; returns it and whether it was created. Unchanged data keeps
-- updated_at (a repeated PUT changes nothing).
INSERT INTO products AS p (sku, name, category, list_price, active, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $6)
ON CONFLICT (sku) DO UPDATE
    SET name = EXCLUDED.name, category = EXCLUDED.category, list_price = EXCLUDED.list_price,
        active = EXCLUDED.active, updated_at = EXCLUDED.updated_at
    WHERE (p.name, p.category, p.list_price, p.active)
          IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.category, EXCLUDED.list_price, EXCLUDED.active)
RETURNING sku, name, category, list_price, active, created_at, updated_at, (xmax = 0) AS created;

-- name: product_by_sku
SELECT sku, name, category, list_price, active, created_at, updated_at FROM products WHERE sku = $1;

-- name: products_by_skus
SELECT sku, name, category, list_price, active, created_at, updated_at FROM products WHERE sku = ANY($1::text[]);

-- name: search_products
-- $1: a piece of the sku or the name (case-insensitive); $2: the category; $3: active only;
-- in sku order from after the cursor $4.
SELECT sku, name, category, list_price, active, created_at, updated_at
FROM products
WHERE ($1::text IS NULL OR strpos(lower(sku), lower($1)) > 0 OR strpos(lower(name), lower($1)) > 0)
  AND ($2::text IS NULL OR category = $2)
  AND (NOT $3 OR active)
  AND ($4::text IS NULL OR sku > $4)
ORDER BY sku
LIMIT $5;

-- name: categories
SELECT DISTINCT category FROM products WHERE category IS NOT NULL ORDER BY category;
