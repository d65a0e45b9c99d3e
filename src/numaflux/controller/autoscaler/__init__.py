"""The autoscaler: a pure decision per vertex (`decide`) and the loop that visits vertices (`scaler`)."""
