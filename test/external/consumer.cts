// Type-checked as a CommonJS consumer of the built package.
import express = require('express');
import lb = require('express-portkey-loadbalancer');

const app = express();
const options: lb.LoadBalancerOptions = { timeout: 30_000 };
app.use('/internal/llm', lb.portkeyLoadBalancer(options));
const result: lb.ConfigValidationResult = lb.validateConfig({ provider: 'openai' });
export = result.valid;
