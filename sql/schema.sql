-- The invert-pipeline warehouse: runs of INVERT, their concepts, explanations and influences.
--
-- The Parquet files of a workspace are the source of truth; this DuckDB file is built from the
-- run manifests (runs/<run_id>/run.json) by invert_pipeline.warehouse and can always be rebuilt.
--
-- Keys: a run is identified by run_id; concepts by (dataset_fingerprint, concept_id) and, equally,
-- by (dataset_fingerprint, concept) (names are unique within a dataset).
--
-- Foreign keys point only at rows that a reload of a run keeps (datasets, concepts, runs, layers,
-- neurons): DuckDB refuses to delete a referenced row in the same transaction that deleted its
-- referencing rows, so a reload updates those parents in place and replaces only the leaf tables
-- (explanations, explanation_concepts, atomic_scores, neuron_influence).

create table warehouse_info (
    key varchar primary key,
    value varchar not null
);

create table datasets (
    dataset_fingerprint varchar primary key,
    dataset_name varchar,
    n_samples bigint not null,
    n_concepts integer not null,
    class_names varchar[] not null,
    spec json
);

create table concepts (
    dataset_fingerprint varchar not null references datasets (dataset_fingerprint),
    concept_id integer not null,          -- column of the label matrix, 0..C-1
    concept varchar not null,             -- the concept's name, as formulas spell it
    kind varchar not null check (kind in ('class', 'ancestor', 'attribute', 'annotation')),
    source_id varchar,                    -- WordNet id, column name or annotation file
    description varchar,
    n_pos bigint,                         -- samples where the concept is true
    depth integer,                        -- 0 for roots of the hierarchy; null outside it
    primary key (dataset_fingerprint, concept_id),
    unique (dataset_fingerprint, concept)
);

create table concept_edges (
    dataset_fingerprint varchar not null,
    child_id integer not null,
    parent_id integer not null,
    primary key (dataset_fingerprint, child_id, parent_id),
    foreign key (dataset_fingerprint, child_id) references concepts (dataset_fingerprint, concept_id),
    foreign key (dataset_fingerprint, parent_id) references concepts (dataset_fingerprint, concept_id)
);

create table runs (
    run_id varchar primary key,
    created_at timestamptz,               -- when the run was first created: its place in history, kept
    sequence integer,                     --   by every recompute; runs are ordered by (created_at, sequence, run_id)
    started_at timestamptz,
    finished_at timestamptz,
    status varchar not null,
    model_name varchar,
    model_version varchar,
    model_fingerprint varchar,
    dataset_name varchar,
    dataset_fingerprint varchar not null references datasets (dataset_fingerprint),
    parameters json,
    code_version varchar,
    report_path varchar,                  -- relative to the workspace
    source_digest varchar not null        -- of the manifest, its files and the loading code
);

create table layers (
    run_id varchar not null references runs (run_id),
    layer varchar not null,
    layer_index integer not null,         -- order in the run manifest (input side first)
    n_neurons integer not null,
    is_explained boolean not null,        -- false for a layer known only as an influence target
    primary key (run_id, layer)
);

create table neurons (
    run_id varchar not null,
    layer varchar not null,
    neuron integer not null,
    class_name varchar,                   -- for the logits layer: the class this output scores
    primary key (run_id, layer, neuron),
    foreign key (run_id, layer) references layers (run_id, layer)
);

create table explanations (
    run_id varchar not null,
    layer varchar not null,
    neuron integer not null,
    rank integer not null,                -- 0 = the neuron's best formula
    dead boolean not null,                -- the same activation on every sample: one row, no formula
    formula varchar,                      -- e.g. sneaker | (bag & ~watermark); null exactly when dead
    formula_json json,                    -- invert_core.parse_formula(formula).to_json()
    length integer,                       -- number of literals
    auc double,
    p_value double,
    log10_p double,
    q_value double,
    fraction double,                      -- share of samples where the formula is true
    n_pos bigint,
    mode varchar not null check (mode in ('positive', 'negative')),
    selection_score double,               -- the criterion the search ranked by (a z-statistic or an AUC)
    synonyms varchar[],                   -- other formulas true on exactly the same searched samples
    heldout_auc double,
    heldout_p_value double,
    heldout_q_value double,
    empirical_p_value double,
    average_precision double,
    f1 double,
    iou double,
    mean_difference double,               -- in units of the neuron's standard deviation
    stability double,                     -- share of bootstrap resamples giving the same formula
    significance_basis varchar            -- which q-value decides significance (null for dead rows)
        check (significance_basis in ('held-out', 'search', 'no held-out test')),
    check (dead = (formula is null)),
    check (not dead or rank = 0),
    primary key (run_id, layer, neuron, rank),
    foreign key (run_id, layer, neuron) references neurons (run_id, layer, neuron)
);

-- One row per distinct literal of a formula, derived at load from explanations.formula.
create table explanation_concepts (
    run_id varchar not null,
    layer varchar not null,
    neuron integer not null,
    rank integer not null,
    dataset_fingerprint varchar not null,
    concept varchar not null,
    negated boolean not null,
    primary key (run_id, layer, neuron, rank, concept, negated),
    foreign key (run_id, layer, neuron) references neurons (run_id, layer, neuron),
    foreign key (dataset_fingerprint, concept) references concepts (dataset_fingerprint, concept)
);

-- Every neuron x every concept: the AUC of the single concept.
create table atomic_scores (
    run_id varchar not null,
    layer varchar not null,
    neuron integer not null,
    dataset_fingerprint varchar not null,
    concept varchar not null,
    auc double not null,
    primary key (run_id, layer, neuron, concept),
    foreign key (run_id, layer, neuron) references neurons (run_id, layer, neuron),
    foreign key (dataset_fingerprint, concept) references concepts (dataset_fingerprint, concept)
);

-- Weights of the nn.Linear layers whose input is an explained layer's output.
create table neuron_influence (
    run_id varchar not null,
    source_layer varchar not null,
    source_neuron integer not null,
    target_layer varchar not null,        -- 'logits' when the linear layer gives the model output
    target_neuron integer not null,
    weight double not null,
    primary key (run_id, source_layer, source_neuron, target_layer, target_neuron),
    foreign key (run_id, source_layer, source_neuron) references neurons (run_id, layer, neuron),
    foreign key (run_id, target_layer, target_neuron) references neurons (run_id, layer, neuron)
);

-- Per loaded run and table of its rows: how many rows its load inserted and their digest
-- (sum(hash(row)) over every column), recorded in the load's transaction. `invert verify` and
-- `invert run` compare the rows the table holds now (invert_pipeline/warehouse/contents.py).
create table run_contents (
    run_id varchar not null references runs (run_id),
    table_name varchar not null,
    n_rows bigint not null,
    rows_digest varchar not null,
    primary key (run_id, table_name)
);

-- The regressions the regression gate found, one row per (run, earlier run) pair, each alerted once
-- (invert.model.regressed) when first seen; loaded from runs/<run_id>/regressions/<against>.json
-- (invert_pipeline/regression_records.py). No foreign key: a gate records a pair after both runs
-- are loaded, and a rebuild loads the records after the runs.
create table regressions (
    run_id varchar not null,              -- the run that regressed
    against_run_id varchar not null,      -- the earlier run it was compared with
    first_seen timestamptz not null,      -- when a gate first found it, and alerted
    failed varchar[] not null,            -- the checks that found something: spurious, logits, lost
    findings json not null,               -- the invert.model.regressed event's payload
    primary key (run_id, against_run_id)
);

-- The explanation of each neuron (rank 0), with the q-value to trust (significance_basis says which):
-- the held-out one when the run held samples out, and then none (not significant) for a formula true
-- on none or all of the held-out samples; the in-sample one only when nothing was held out. A dead
-- neuron has no explanation.
create view best_explanations as
select
    explanations.*,
    case explanations.significance_basis
        when 'held-out' then explanations.heldout_q_value
        when 'search' then explanations.q_value
    end as effective_q_value
from explanations
where explanations.rank = 0 and not explanations.dead;

-- One row per distinct literal of each neuron's best explanation, with the explanation's figures and
-- the literal concept's kind and depth: what the analyses ask of "the concepts a neuron follows".
create view best_literals as
select
    best.run_id,
    best.layer,
    best.neuron,
    best.formula,
    best.auc,
    best.effective_q_value,
    literals.dataset_fingerprint,
    literals.concept,
    literals.negated,
    concepts.kind as concept_kind,
    concepts.depth as concept_depth
from best_explanations as best
join explanation_concepts as literals
    on literals.run_id = best.run_id
    and literals.layer = best.layer
    and literals.neuron = best.neuron
    and literals.rank = best.rank
join concepts
    on concepts.dataset_fingerprint = literals.dataset_fingerprint
    and concepts.concept = literals.concept;

-- The neurons feeding each class: one row per positive weight into a class's logit, weight_rank 1 for
-- the strongest within the run and class, with the feeding neuron's best explanation (null without one,
-- as for a dead neuron).
create view class_inputs as
select
    classes.run_id,
    classes.class_name,
    influence.target_layer,
    influence.target_neuron,
    influence.source_layer,
    influence.source_neuron,
    influence.weight,
    row_number() over (
        partition by classes.run_id, classes.class_name
        order by influence.weight desc, influence.source_layer, influence.source_neuron
    ) as weight_rank,
    best.formula,
    best.auc,
    best.effective_q_value
from neuron_influence as influence
join neurons as classes
    on classes.run_id = influence.run_id
    and classes.layer = influence.target_layer
    and classes.neuron = influence.target_neuron
left join best_explanations as best
    on best.run_id = influence.run_id
    and best.layer = influence.source_layer
    and best.neuron = influence.source_neuron
where classes.class_name is not null and influence.weight > 0;

-- Every concept with each of its ancestors (and itself at distance 0): one row per
-- (dataset, concept, ancestor), distance = fewest parent steps between them.
create view concept_closure as
with recursive walk (dataset_fingerprint, concept_id, ancestor_id, distance) as (
    select dataset_fingerprint, concept_id, concept_id, 0
    from concepts
    union
    select walk.dataset_fingerprint, walk.concept_id, edges.parent_id, walk.distance + 1
    from walk
    join concept_edges as edges
        on edges.dataset_fingerprint = walk.dataset_fingerprint
        and edges.child_id = walk.ancestor_id
),

shortest as (
    select dataset_fingerprint, concept_id, ancestor_id, min(distance) as distance
    from walk
    group by all
)

select
    shortest.dataset_fingerprint,
    shortest.concept_id,
    concept.concept,
    concept.depth,
    shortest.ancestor_id,
    ancestor.concept as ancestor,
    ancestor.depth as ancestor_depth,
    shortest.distance
from shortest
join concepts as concept
    on concept.dataset_fingerprint = shortest.dataset_fingerprint
    and concept.concept_id = shortest.concept_id
join concepts as ancestor
    on ancestor.dataset_fingerprint = shortest.dataset_fingerprint
    and ancestor.concept_id = shortest.ancestor_id;

-- Pairs of concepts on one line of descent (either is an ancestor of the other, or they are the
-- same concept): the "own hierarchy" of a class. relation says what `related` is to `concept`.
create view concept_lineage as
select
    dataset_fingerprint,
    concept,
    ancestor as related,
    case when distance = 0 then 'same' else 'ancestor' end as relation,
    distance
from concept_closure
union all
select
    dataset_fingerprint,
    ancestor as concept,
    concept as related,
    'descendant' as relation,
    distance
from concept_closure
where distance > 0;

-- The lineage rule: whether `other_concept` lies within the own hierarchy of the class `class_concept` (the class
-- itself, an ancestor or a descendant). A class's score or feeding neuron that follows a concept outside
-- it follows something other than the class: a spurious correlation such as a watermark.
create macro in_class_lineage(dataset_fp, class_concept, other_concept) as exists (
    select 1
    from concept_lineage as lineage
    where lineage.dataset_fingerprint = dataset_fp
        and lineage.concept = class_concept
        and lineage.related = other_concept
);
