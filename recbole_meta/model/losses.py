"""Losses shared by the plugin's models and trainers."""


def masked_mse(prediction, rating, mask, dim=None):
    """Mean squared error over the positions where ``mask`` is 1 (0 where there are none).

    Args:
        prediction, rating, mask (torch.Tensor): the same shape; ``mask`` holds 1 for real ratings, 0 for padding.
        dim (int): reduce over this dimension only (one loss per row, e.g. per task); ``None``: over everything.
    """
    squared = (prediction - rating) ** 2 * mask
    if dim is None:
        return squared.sum() / mask.sum().clamp(min=1.0)
    return squared.sum(dim) / mask.sum(dim).clamp(min=1.0)
