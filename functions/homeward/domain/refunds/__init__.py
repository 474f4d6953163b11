"""Refund money, one module per question: what units refund (`pricing`, the one home of refund
amounts), how much a return finally refunds (`amounts`), when money moves (`triggers`,
`plans`), to where (`destinations`), provider reports (`reports`), the shopper's view
(`shopper_view`), the payment-provider port (`ports`) and the use cases (`service`)."""
