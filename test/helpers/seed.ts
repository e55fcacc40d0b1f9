import { azureDeployment, keys } from './app.js';

/**
 * The two requests of Portkey's load-balancing document, verbatim except that the placeholders
 * (`<API_KEY>`, `<AZURE_RESOURCE_NAME>`, ...) hold test values.
 */
export function seedOpenAIAnthropicBody() {
  return {
    config: {
      mode: 'loadbalance',
      options: [
        {
          provider: 'openai',
          apiKey: keys.openai,
          weight: 0.5,
          override_params: { model: 'gpt-3.5-turbo' },
        },
        {
          provider: 'anthropic',
          apiKey: keys.anthropic,
          weight: 0.5,
          override_params: { model: 'claude-v1' },
        },
      ],
    },
    params: {
      messages: [{ role: 'user', content: 'What are the top 10 happiest countries in the world?' }],
      max_tokens: 50,
      user: 'jbu3470',
    },
  };
}

export function seedAzureOpenAIBody() {
  return {
    config: {
      mode: 'loadbalance',
      options: [
        {
          provider: 'azure-openai',
          apiKey: keys.azure,
          resourceName: azureDeployment.resourceName,
          deploymentId: azureDeployment.deploymentId,
          apiVersion: azureDeployment.apiVersion,
          weight: 0.7,
        },
        {
          provider: 'openai',
          apiKey: keys.openai,
          weight: 0.3,
        },
      ],
    },
    params: {
      messages: [{ role: 'user', content: 'What are the top 10 happiest countries in the world?' }],
      max_tokens: 50,
      user: 'jbu3470',
      model: 'gpt-3.5-turbo',
    },
  };
}
