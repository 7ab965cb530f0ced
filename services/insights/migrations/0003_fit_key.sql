-- What a population model was fitted on (a digest of its inputs and of the fitting code): a replay
-- reuses a stored fit whose inputs it meets again instead of fitting it anew.
ALTER TABLE population_model ADD COLUMN fit_key text;
