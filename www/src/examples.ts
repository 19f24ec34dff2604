import hello from '../examples/hello.yaml?raw';
import kubernetesRedis from '../examples/kubernetes-redis.yaml?raw';
import services from '../examples/services.yaml?raw';

export interface Example {
  id: string;
  title: string;
  yaml: string;
}

export const EXAMPLES: Example[] = [
  { id: 'services', title: 'Go service with Postgres, Redis and mocks (Cloud)', yaml: services },
  { id: 'hello', title: 'Two Run steps on Kubernetes', yaml: hello },
  { id: 'kubernetes-redis', title: 'Redis service in a Kubernetes pod', yaml: kubernetesRedis },
];
