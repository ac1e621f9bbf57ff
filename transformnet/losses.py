"""Perceptual losses (Johnson et al. 2016; Gatys et al. 2015), written with keras.ops.

Normalisation convention (one place, used by both the fast trainer and the slow path):
- ``gram(F) = F^T F / (H * W * C)`` per image, F the (H*W, C) feature matrix. Dividing by
  H*W makes the Gram matrix independent of image size, so a style target computed on the
  full painting applies to 256-px training crops; dividing by C as well is the paper's choice.
- content loss: mean over (B, H, W, C) of the squared feature difference (paper: squared
  Euclidean distance divided by C*H*W).
- style loss of a layer: the squared Frobenius norm of the Gram difference (sum over C x C),
  averaged over the batch: the paper's definition. A mean over C x C instead would weight each
  layer by 1/C^2, which no single global weight can undo: relu4_3 (C=512) would count 64 times
  less than relu1_2 (C=64) and its Gram energy is ~300x smaller already, so the large-scale
  strokes that relu3_3/relu4_3 carry would vanish from the loss (issue 8).
- total variation: mean squared difference of vertically and horizontally adjacent pixels of
  the 0..255 image, summed over the two directions (smooth, so it suits L-BFGS too).

Every term is returned on its own so the trainer can log it, then combined with weights.
"""

from keras import ops

from . import config, memory


def gram(features):
    """(B, H, W, C) -> (B, C, C) Gram matrices, divided by H*W*C, computed in float32."""
    features = ops.cast(features, "float32")
    shape = ops.shape(features)
    b, h, w, c = shape[0], shape[1], shape[2], shape[3]
    flat = ops.reshape(features, (b, h * w, c))
    size = ops.cast(h * w * c, "float32")
    return ops.matmul(ops.transpose(flat, (0, 2, 1)), flat) / size


def content_loss(features, target_features):
    """Mean squared difference of two feature maps."""
    diff = ops.cast(features, "float32") - ops.cast(target_features, "float32")
    return ops.mean(ops.square(diff))


def style_loss(features, target_gram):
    """Squared Frobenius norm of ``gram(features) - target_gram``, averaged over the batch.

    ``target_gram`` is (1, C, C) or (C, C) for one painting, broadcast over the batch.
    """
    diff = gram(features) - ops.cast(target_gram, "float32")
    return ops.mean(ops.sum(ops.square(diff), axis=(-2, -1)))


def total_variation(images):
    """Mean squared difference between neighbouring pixels, vertical plus horizontal."""
    images = ops.cast(images, "float32")
    dy = images[:, 1:, :, :] - images[:, :-1, :, :]
    dx = images[:, :, 1:, :] - images[:, :, :-1, :]
    return ops.mean(ops.square(dy)) + ops.mean(ops.square(dx))


class PerceptualLoss:
    """Content + style + TV loss of stylised images against content images and one painting.

    Build it once per painting: ``style_grams`` (dict layer -> Gram target) comes from
    :meth:`style_targets`. Calling it returns a dict of float32 scalars: ``content``,
    ``style`` (weighted sum over layers, before the global style weight), ``tv``,
    ``style/<layer>`` (each layer, unweighted), ``weighted/content`` ... and ``total``.
    """

    def __init__(
        self,
        loss_net,
        style_grams,
        content_layers=config.CONTENT_LAYERS,
        style_layers=config.STYLE_LAYERS,
        content_weight=config.CONTENT_WEIGHT,
        style_weight=config.STYLE_WEIGHT,
        tv_weight=config.TV_WEIGHT,
        style_layer_weights=None,
    ):
        self.loss_net = loss_net
        self.style_grams = style_grams
        self.content_layers = tuple(content_layers)
        self.style_layers = tuple(style_layers)
        if style_layer_weights is None:  # config.py's, for config.py's layers (equal weights for others)
            default = self.style_layers == tuple(config.STYLE_LAYERS)
            style_layer_weights = config.STYLE_LAYER_WEIGHTS if default else (1.0,) * len(self.style_layers)
        self.style_layer_weights = tuple(float(w) for w in style_layer_weights)
        if len(self.style_layer_weights) != len(self.style_layers):
            raise ValueError(f"{len(self.style_layer_weights)} style layer weights for {len(self.style_layers)} style layers")
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        self.tv_weight = float(tv_weight)

    @staticmethod
    def style_targets(loss_net, style_image, style_layers=config.STYLE_LAYERS):
        """Gram targets of one painting: ``style_image`` is RGB 0..255, (H, W, 3) or (1, H, W, 3)."""
        image = ops.convert_to_tensor(style_image, dtype="float32")
        if len(image.shape) == 3:
            image = ops.expand_dims(image, 0)
        memory.painting(int(image.shape[1]), int(image.shape[2]))
        features = loss_net(image)
        return {layer: gram(features[layer]) for layer in style_layers}

    def content_targets(self, content_images):
        """Content-layer features of the content images (computed once for the slow path)."""
        features = self.loss_net(content_images)
        return {layer: features[layer] for layer in self.content_layers}

    def __call__(self, stylized, content_images=None, content_features=None):
        """Losses of ``stylized`` (B, H, W, 3, RGB 0..255).

        Give either the content images or their precomputed ``content_features``.
        """
        if content_features is None:
            content_features = self.content_targets(content_images)
        features = self.loss_net(stylized)
        losses = {}
        content = 0.0
        for layer in self.content_layers:
            content = content + content_loss(features[layer], content_features[layer])
        style = 0.0
        for layer, weight in zip(self.style_layers, self.style_layer_weights):
            layer_loss = style_loss(features[layer], self.style_grams[layer])
            losses[f"style/{layer}"] = layer_loss
            style = style + weight * layer_loss
        tv = total_variation(stylized)
        losses["content"] = content
        losses["style"] = style
        losses["tv"] = tv
        losses["weighted/content"] = self.content_weight * content
        losses["weighted/style"] = self.style_weight * style
        losses["weighted/tv"] = self.tv_weight * tv
        losses["total"] = (
            losses["weighted/content"] + losses["weighted/style"] + losses["weighted/tv"]
        )
        return losses
