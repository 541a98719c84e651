"""Phase 7: WebShop-style agent evaluation."""
