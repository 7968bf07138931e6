r"""RecBole's SASRec as a user encoder for PeterRec's downstream tasks (the target-only self-attention baseline).

Reference:
    Wang-Cheng Kang, Julian McAuley. "Self-Attentive Sequential Recommendation." ICDM 2018.

PeterRec's paper compares its transfer against models trained on the target task alone; ``encoder: sasrec`` with
``finetune_mode: scratch`` puts RecBole's SASRec (item + position embeddings, causal self-attention blocks; all
RecBole's code) under the same task heads, trained on the downstream task only. RecBole's ``forward`` already
reads the last valid position of right-padded sequences; ``readout: mean`` averages the valid positions instead.
The encoder has no residual convolution blocks, so it takes no model patches and no pre-trained weights.
"""

import torch
from recbole.model.sequential_recommender.sasrec import SASRec

ENCODERS = ("nextitnet", "sasrec")


class SASRecEncoder(SASRec):
    """SASRec returning a user representation ``[batch, hidden_size]`` (``readout`` ``last`` or ``mean``)."""

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.embedding_size = self.hidden_size
        self.residual_blocks = []  # no convolution blocks: nothing to patch

    def forward(self, item_seq, item_seq_len, readout="last"):
        if readout == "last":
            return super().forward(item_seq, item_seq_len)
        if readout != "mean":
            raise ValueError(f"readout must be last or mean, got {readout!r}")
        positions = torch.arange(item_seq.size(1), device=item_seq.device).unsqueeze(0).expand_as(item_seq)
        hidden = self.dropout(
            self.LayerNorm(self.item_embedding(item_seq) + self.position_embedding(positions))
        )
        output = self.trm_encoder(hidden, self.get_attention_mask(item_seq), output_all_encoded_layers=True)[
            -1
        ]
        valid = (positions < item_seq_len.unsqueeze(1)).unsqueeze(-1).to(output.dtype)
        return (output * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1)
