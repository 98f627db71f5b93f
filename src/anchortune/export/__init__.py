"""What a run hands back: adapter, merged model, model card."""
