"""Training pipeline of the project's own field-aware model (issue 6).

Stages (``macefield train labels|distill|finetune|export|evaluate``, see :mod:`.cli`):

1. :mod:`.labels` - CHGNet distillation labels (energies, forces, stresses) on
   train-split structures plus rattled / strained copies, cached in a work folder;
2. :mod:`.pipeline` ``run_distill`` - base MACE (no field blocks) on those labels;
3. :mod:`.pipeline` ``run_finetune`` - ``FieldMACE.from_foundation`` + training on
   Born charges and eps_inf (train splits) with replay of the base labels;
4. :mod:`.evaluate` - test-split metrics vs DFPT; :mod:`.card` - the model card;
   :mod:`.registry` - shipped models (``data/models/registry.json``).

:mod:`.data` enforces the split rules; :mod:`.trainer` is the loop (Huber
losses, checkpoints, resume). Nothing here is imported by the package root.
"""

from macefield_flows.training.data import (  # noqa: F401
    EVALUATION_ONLY,
    TRAINING_ALLOWED,
    SplitRuleError,
    load_split,
    reference_dir,
    split_of_key,
)
