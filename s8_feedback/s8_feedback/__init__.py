"""S8 feedback: customer satisfaction ratings on resolved tickets."""
